"""One file per schema revision; a catalogue made by any of them opens and is upgraded in place."""
