/* httpd.h - a small HTTP/1.1 server for the tests of reading from the Hub: it serves fixture
 * folders under the Hub's URL layout, GET /ORG/NAME/resolve/REV/FILE, on 127.0.0.1 at a port the
 * system picks, from a thread of the test. Every answer closes its connection. Switches make it
 * behave as the servers the client must cope with: ranges honoured or ignored, a redirect to
 * another path (as the Hub sends LFS files to its CDN), a gated repo (401 without the bearer
 * token "good-token"), a slow answer, a Content-Range total that is not the file's size. */
#ifndef CK_TEST_HTTPD_H
#define CK_TEST_HTTPD_H

#include <pthread.h>
#include <stdint.h>

typedef struct {
    /* set before httpd_start */
    const char *const *repos; /* pairs "ORG/NAME", "folder", ..., NULL; ORG "gated" needs the token */
    int no_ranges;            /* answer 200 with the whole file to a Range request */
    int redirect;             /* /resolve/ answers 302 to /cdn/ORG/NAME/REV/FILE */
    int delay_ms;             /* wait before each answer */
    int lie_size;             /* Content-Range totals 4096 bytes more than the file */
    const char *commit;       /* sent as X-Repo-Commit with every file (NULL: none) */
    /* filled by httpd_start */
    int port;
    _Atomic int requests;     /* accepted so far */
    int fd;
    volatile int stop;
    pthread_t th;
} httpd;

/* Listens and serves until httpd_stop; 0, or -1 (no socket). */
int httpd_start(httpd *h);
void httpd_stop(httpd *h);

#endif
