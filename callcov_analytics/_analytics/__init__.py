"""Analytics on any engine: outcomes, periods, scorecard, coaching, exceptions, the accessor."""
