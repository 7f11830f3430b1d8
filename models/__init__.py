"""Records and state: plain dataclasses with JSON codecs, no Faust."""
