/* hubd.c - make bench's Hub-layout server on loopback: the tests' HTTP server (tests/httpd.c,
 * ranges honoured, only the bytes answered read) serving one folder as the repo bench/dsv3, so
 * that lint from the Hub is timed against a server that is not the bottleneck. Prints its port,
 * serves until its standard input closes, then prints the requests it answered.
 * Usage: bench_hubd FOLDER */
#include "tests/httpd.h"

#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: bench_hubd FOLDER\n");
        return 2;
    }
    const char *repos[] = {"bench/dsv3", argv[1], NULL, NULL};
    httpd h = {0};
    h.repos = repos;
    if (httpd_start(&h) != 0) {
        perror("bench_hubd: listen on 127.0.0.1");
        return 1;
    }
    printf("%d\n", h.port);
    fflush(stdout);
    char buf[256];
    while (read(0, buf, sizeof buf) > 0)
        ;
    httpd_stop(&h);
    printf("%d\n", (int)h.requests);
    return 0;
}
