#ifndef WL_RPN_H
#define WL_RPN_H
/* Evaluates a reverse Polish expression of integers and + - * / %;
 * returns 0 and the result, or -1 on a malformed expression or a division
 * by zero. */
int rpn_eval(const char *expr, long *result);
#endif
