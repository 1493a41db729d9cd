"""Decoding pages into frames: the schema, the page decoders and the frame built from them."""
