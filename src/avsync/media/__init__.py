"""Reading media: probing, chunked audio and video decoding (through avsync._core), and the
ffmpeg command line for writing files."""
