"""The load entry points: options, loaders, scan, quota, what a load changed and reported."""
