/* A shared object that exports no flow_functions: not a function
 * library. */
int not_a_function_library(void);

int not_a_function_library(void)
{
    return 1;
}
