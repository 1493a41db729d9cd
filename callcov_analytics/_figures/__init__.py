"""The figures' look and the quota plot."""
