# Argument checkers shared by the exported functions and methods. Each exported
# function validates its arguments once, at its boundary, with these; messages name
# the function and the argument at fault.

# Arguments that reached a method through `...` and that the method does not use.
# lme4's methods accept some arguments that lemma does not implement; silently
# ignoring them would give a number that looks right and is not, so each is named
# in a warning (or an error where ignoring it would change the meaning of the result).
check_dots_unused <- function(dots, fn, error = FALSE) {
  if (length(dots) == 0L) return(invisible(TRUE))
  nm <- names(dots)
  if (is.null(nm)) nm <- rep("", length(dots))
  nm[nm == ""] <- paste0("<unnamed argument ", which(nm == ""), ">")
  msg <- sprintf("%s(): %s %s %s not supported by lemma%s", fn,
                 if (length(nm) == 1L) "argument" else "arguments",
                 paste0("'", nm, "'", collapse = ", "),
                 if (length(nm) == 1L) "is" else "are",
                 if (error) "" else if (length(nm) == 1L) " and was ignored" else " and were ignored")
  if (error) stop(msg, call. = FALSE) else warning(msg, call. = FALSE)
  invisible(FALSE)
}

# A single TRUE or FALSE (not NA, not a vector, not "yes").
check_flag <- function(x, arg, fn) {
  if (!is.logical(x) || length(x) != 1L || is.na(x))
    stop(sprintf("%s(): '%s' must be TRUE or FALSE", fn, arg), call. = FALSE)
  invisible(x)
}

# One of the allowed strings, matched partially as match.arg does, with a message
# that names the argument and the choices.
check_choice <- function(x, choices, arg, fn) {
  if (!is.character(x) || length(x) != 1L || is.na(x))
    stop(sprintf("%s(): '%s' must be one of %s", fn, arg,
                 paste0("\"", choices, "\"", collapse = ", ")), call. = FALSE)
  i <- pmatch(x, choices)
  if (is.na(i))
    stop(sprintf("%s(): '%s' = \"%s\" is not one of %s", fn, arg, x,
                 paste0("\"", choices, "\"", collapse = ", ")), call. = FALSE)
  choices[i]
}

# A single finite number within [lower, upper]; `integer = TRUE` also requires a
# whole number.
check_number <- function(x, arg, fn, lower = -Inf, upper = Inf, integer = FALSE) {
  ok <- is.numeric(x) && length(x) == 1L && !is.na(x) && is.finite(x) &&
    x >= lower && x <= upper && (!integer || x == round(x))
  if (!ok) {
    range <- if (is.finite(lower) && is.finite(upper)) sprintf(" in [%s, %s]", lower, upper)
      else if (is.finite(lower)) sprintf(" >= %s", lower)
      else if (is.finite(upper)) sprintf(" <= %s", upper) else ""
    stop(sprintf("%s(): '%s' must be a single finite %s%s", fn, arg,
                 if (integer) "whole number" else "number", range), call. = FALSE)
  }
  invisible(x)
}
