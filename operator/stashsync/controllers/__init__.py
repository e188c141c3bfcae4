"""kopf handlers. Importing `stashsync.controllers.all` registers every handler."""
