"""The command line, ``jenkins-broker``: one module per group of commands.

``cli``        the parser and ``main``; ``serve``, ``mint`` and the rest are dispatched from it
``output``     how every command prints (tables, JSON, one-line errors)
``admin``      config, credentials, roles, leases, revoke, reap (through Vault or the broker)
``api``        the client of a running broker's API (``JENKINS_BROKER_ADDR``)
``bootstrap``  ``jenkins-broker bootstrap``: mounts, policies and the broker's AppRole
``check``      ``jenkins-broker check``: is everything reachable and usable
``demo``       ``jenkins-broker demo``: OpenBao, the fake Jenkins and the broker, end to end
"""
