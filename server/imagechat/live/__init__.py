"""The live side: the WebSocket endpoint, the fan-out hub and batching of busy images."""
