"""Dose-finding designs and their operating characteristics."""
