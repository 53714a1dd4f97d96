"""The embeddable browser voice widget: static files served by the app, no build step."""
