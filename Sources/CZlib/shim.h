// zlib, for the archive's gzip files. Debian's zlib1g-dev provides the header; scripts/test
// installs it where it is missing.
#include <zlib.h>
