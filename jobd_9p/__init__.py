"""jobd_9p: the 9P2000 / 9P2000.u / 9P2000.L front of jobd (sans-IO codec, session, trio server)."""
