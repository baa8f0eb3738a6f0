"""``nptrain plugin new``: a ready, separately installable plugin project."""
