"""The front doors: pages, batch API, PixLab, remove.bg, websocket; each turns its request into a service call."""
