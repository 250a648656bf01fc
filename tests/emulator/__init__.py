"""Tests of annoq.emulator."""
