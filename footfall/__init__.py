"""Footfall: customer event tracking, profiles and segments on Klaviyo's wire protocols."""

__version__ = "0.1.0"
