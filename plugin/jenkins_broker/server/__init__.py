"""The broker as a running service: its settings, its parts wired together, its HTTP server.

``settings``   :class:`BrokerSettings`, from the environment, validated
``services``   the composition root: builds the Vault and Jenkins adapters and the domain
               around them, starts and stops the background work
``httpd``      the production HTTP server (cheroot) for the API and the fake Jenkins
"""
