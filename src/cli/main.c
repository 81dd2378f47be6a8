/* atrium: the command-line entry point (placeholder until cli/ lands). */
#include <stdio.h>

int main(void)
{
    puts("atrium");
    return 0;
}
