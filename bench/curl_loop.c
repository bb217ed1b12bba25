/* The transport limit: N GETs of one URL on one reused libcurl easy handle,
 * bodies discarded. Prints calls per second. Usage: curl_loop URL SECONDS */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static size_t discard(char *data, size_t size, size_t n, void *user)
{
    (void)data;
    *(size_t *)user += size * n;
    return size * n;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    CURL *easy;
    struct curl_slist *headers = NULL;
    size_t bytes = 0;
    long calls = 0;
    double start, seconds;
    if (argc != 3) {
        fprintf(stderr, "usage: %s URL SECONDS\n", argv[0]);
        return 2;
    }
    seconds = atof(argv[2]);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    easy = curl_easy_init();
    headers = curl_slist_append(headers, "x-api-key: bench");
    headers = curl_slist_append(headers, "Accept: application/json");
    curl_easy_setopt(easy, CURLOPT_URL, argv[1]);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &bytes);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    start = now();
    while (now() - start < seconds) {
        if (curl_easy_perform(easy) != CURLE_OK) {
            fprintf(stderr, "curl_loop: request failed\n");
            return 1;
        }
        calls++;
    }
    printf("%.1f\n", calls / (now() - start));
    curl_slist_free_all(headers);
    curl_easy_cleanup(easy);
    curl_global_cleanup();
    return 0;
}
