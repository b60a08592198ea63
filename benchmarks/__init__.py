"""Benchmarks of jenkins-broker (issue 6) and the soak (issue 5, item 7).

``python -m benchmarks`` runs every figure; ``python -m benchmarks.soak`` the soak.
See README.md in this directory.
"""
