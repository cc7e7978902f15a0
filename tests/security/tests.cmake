# The security tests of iomt serve (docs/security.md).
