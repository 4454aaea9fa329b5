"""Thin click commands: parse options, call the library, render. No logic lives here."""
