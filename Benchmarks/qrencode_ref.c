/* Reference for the QR benchmark: libqrencode alone encoding the same URLs (one per line),
   same settings as Lotse (level M, case-sensitive, automatic modes); nothing is written. */
#include <qrencode.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    FILE *f = fopen(argc > 1 ? argv[1] : "/dev/stdin", "r");
    if (!f) { perror("open"); return 1; }
    char line[512];
    long n = 0, dark = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!*line) continue;
        QRcode *q = QRcode_encodeString(line, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
        if (!q) { fprintf(stderr, "encode failed\n"); return 1; }
        dark += q->data[0] & 1;
        QRcode_free(q);
        n++;
    }
    printf("%ld %ld\n", n, dark);
    return 0;
}
