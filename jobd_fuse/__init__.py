"""jobd_fuse: the FUSE front of jobd (pyfuse3).

In-process over ``jobd_core`` or bridged to a remote jobd over 9P.
"""
