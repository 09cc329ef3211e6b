"""jobd_fuse: the FUSE front of jobd (pyfuse3), in-process over jobd_core or bridged to a remote jobd."""
