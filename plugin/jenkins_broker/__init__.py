"""jenkins-broker: short-lived Jenkins API tokens, leased through Vault / OpenBao."""

__version__ = "0.1.0"
