/* Runs packaging/trust.c's rule on each argument: "ok <resolved>" or "refused <why>". */
#include <stdio.h>
#include <unistd.h>

#include "trust.h"

int main(int argc, char **argv)
{
    char out[8192], why[8192];
    for (int i = 1; i < argc; i++) {
        if (trust_check_dir(argv[i], geteuid(), out, sizeof out, why, sizeof why) == 0)
            printf("ok %s\n", out);
        else
            printf("refused %s\n", why);
    }
    return 0;
}
