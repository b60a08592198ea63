"""The command line, ``jenkins-broker``: one module per group of commands.

``cli``        the parser and ``main``; ``serve``, ``mint`` and the rest are dispatched from it
``output``     how every command prints (tables, JSON, one-line errors)
``admin``      config, credentials, roles, leases, revoke, reap (through Vault or the broker)
``api``        the client of a running broker's API (``JENKINS_BROKER_ADDR``)
``bootstrap``  ``jenkins-broker bootstrap``: mounts, policies and the broker's AppRole
``check``      ``jenkins-broker check``: is everything reachable and usable
``jenkins_probe``  does a URL answer as Jenkins (``config write``, ``check``)
``usage``      the usage of the command a mistake was made in; the environment ``serve`` reads
``demo``       ``jenkins-broker demo``: OpenBao, the fake Jenkins and the broker, end to end
"""
