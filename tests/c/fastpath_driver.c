/* Runs packaging/fastpath.c's host check on each argument: "ecr" or "not ecr", one a line.
 * The check is static, so the file is included rather than linked. */
#include "fastpath.c" // NOLINT(bugprone-suspicious-include): its functions are static

int main(int argc, char **argv)
{
    char host[256];
    for (int i = 1; i < argc; i++)
        puts(host_of(argv[i], host, sizeof host) == 0 && parse(host) ? "ecr" : "not ecr");
    return fflush(stdout) != 0;
}
