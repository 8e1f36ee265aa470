"""Ads: placing a page view's ads in its slots, and learning their click-through from clicks."""
