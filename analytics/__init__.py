"""Prices, costs, SQL views and analyses over the traces."""
