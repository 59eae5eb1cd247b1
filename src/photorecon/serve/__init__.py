"""The web page and JSON/multipart API (`photorecon serve`)."""
