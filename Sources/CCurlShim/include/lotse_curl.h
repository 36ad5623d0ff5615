#ifndef LOTSE_CURL_H
#define LOTSE_CURL_H
#include <curl/curl.h>

/* Typed, non-variadic wrappers around curl_easy_setopt / curl_easy_getinfo,
   which Swift cannot call directly. */
CURLcode lotse_curl_setopt_long(CURL *handle, CURLoption option, long value);
CURLcode lotse_curl_setopt_string(CURL *handle, CURLoption option, const char *value);
CURLcode lotse_curl_setopt_pointer(CURL *handle, CURLoption option, void *value);
CURLcode lotse_curl_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value);
typedef size_t (*lotse_curl_data_callback)(char *ptr, size_t size, size_t nmemb, void *userdata);
CURLcode lotse_curl_setopt_callback(CURL *handle, CURLoption option, lotse_curl_data_callback cb);
CURLcode lotse_curl_getinfo_long(CURL *handle, CURLINFO info, long *value);
CURLcode lotse_curl_getinfo_double(CURL *handle, CURLINFO info, double *value);
#endif
