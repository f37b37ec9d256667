/* The launcher's native answer to a cache-hit `get` (see fastpath.c). */
#ifndef FASTPATH_H
#define FASTPATH_H

#define FASTPATH_DECLINED (-1)

/* Answer `argv[1] == "get"` from a fresh cached token and return the exit
 * status; or return FASTPATH_DECLINED, with stdin as it was, for the Python
 * helper to answer. */
int fastpath_get(int argc, char **argv);

#endif
