"""Plugin mode: jenkins-broker as an OpenBao / Vault secrets-engine plugin.

Start-up and transport::

    command.main_plugin    the entry point: refuse wrong starts, then serve
    handshake              magic cookie, protocol version, the stdout line
    tlscert                AutoMTLS identity (pure-Python P-256) and TLS contexts
    grpcserver             grpclib on a unix socket, shutdown
    grpc_broker            go-plugin's GRPCBroker: dial back to OpenBao's Storage
    controller, stdio      Shutdown, multiplexing/version answers, hclog stderr
    grpcbackend            pb.Backend <-> the engine (protobuf translation, errors)
    storage                the mount's storage over the dial-back (or in memory)

The engine (no gRPC in it)::

    backend                routing, help, the Jenkins client and strategies
    path_config, path_roles, path_creds, path_rotate_root, secret_token
    periodic               the periodic function: revoke tokens it cannot account for
    minted, migration      its ledger of minted tokens; tokens from before the ledger

Packaging: :mod:`.build` writes the single plugin file (``jenkins-broker plugin
build``). See docs/plugin-mode.md.
"""
