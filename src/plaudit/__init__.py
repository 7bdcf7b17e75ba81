"""Plaudit: award nomination cycles with weighted, audited approvals."""
