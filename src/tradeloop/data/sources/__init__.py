"""Historical data from data vendors, validated on the way into the store.

:mod:`tradeloop.data.sources.polygon`: bars and trades of US stocks, options, FX and crypto from
Polygon.io.
"""
