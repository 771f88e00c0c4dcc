"""Test helpers shared by the unit tests: table construction and synthetic scenarios."""
