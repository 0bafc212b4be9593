"""Tests for sluice.query, mirroring its modules."""
