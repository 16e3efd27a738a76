"""Shared domain: organisations and regions, Japan time, text normalisation."""
