"""The write side: validated command models and the application service that handles them."""
