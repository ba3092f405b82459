"""The offline web app (PWA), served by Flask."""
