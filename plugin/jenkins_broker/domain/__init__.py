"""The domain: roles, lease records and the lease lifecycle, and the rules around them.

Nothing here speaks HTTP or imports Flask, urllib3 or hvac: Vault and Jenkins are reached
through the ports (protocols) each module declares, and the server
(:mod:`jenkins_broker.server.services`) wires the real adapters in; tests hand in fakes.

=====================  ==========================================================
``roles``              a role: who may get which Jenkins identity, how, for how long
``records``            the lease record kept in Vault for each minted token
``jenkins_config``     the stored Jenkins connection and credentials, validated
``leases``             mint, renew, look up: the lease lifecycle
``revocation``         its other half: ending leases, one, at expiry, or a role's
``reaper``             the schedule of expiries and the workers that revoke
``reconcile``          finds tokens in Jenkins that no lease covers, and revokes them
``shared_mode``        shared-mode rotation (one token per role, in Vault's KV v1)
``tokenwatch``         leases follow their caller's Vault token
``credentials``        the broker's own Jenkins credentials: rotation and health
``quota``              ``max_live_tokens``: places held across replicas
=====================  ==========================================================
"""
