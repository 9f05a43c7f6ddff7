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
    lo <- format(lower, digits = 3)
    hi <- format(upper, digits = 3)
    range <- if (is.finite(lower) && is.finite(upper)) sprintf(" in [%s, %s]", lo, hi)
      else if (is.finite(lower)) sprintf(" >= %s", lo)
      else if (is.finite(upper)) sprintf(" <= %s", hi) else ""
    stop(sprintf("%s(): '%s' must be a single finite %s%s", fn, arg,
                 if (integer) "whole number" else "number", range), call. = FALSE)
  }
  invisible(x)
}

# A confidence level: a single number strictly between 0 and 1.
check_level <- function(x, fn, arg = "level") {
  if (!is.numeric(x) || length(x) != 1L || is.na(x) || x <= 0 || x >= 1)
    stop(sprintf("%s(): '%s' must be a single number strictly between 0 and 1 (such as 0.95)", fn, arg),
         call. = FALSE)
  invisible(x)
}

# An interval: two finite increasing numbers strictly inside (lower, upper) and,
# when `contains` is given, on either side of it.
check_range <- function(x, arg, fn, lower = -Inf, upper = Inf, contains = NULL) {
  ok <- is.numeric(x) && length(x) == 2L && !anyNA(x) && all(is.finite(x)) &&
    x[1] < x[2] && x[1] > lower && x[2] < upper &&
    (is.null(contains) || (x[1] < contains && contains < x[2]))
  if (!ok) {
    bounds <- c(if (is.finite(lower)) sprintf("above %s", lower), if (is.finite(upper)) sprintf("below %s", upper))
    stop(sprintf("%s(): '%s' must be two finite increasing numbers%s%s", fn, arg,
                 if (length(bounds)) paste0(", ", paste(bounds, collapse = " and ")) else "",
                 if (is.null(contains)) "" else sprintf(", the first below %s and the second above", contains)),
         call. = FALSE)
  }
  invisible(x)
}

# A numeric matrix without missing or infinite values, with `ncol` columns if
# given, square if asked. A vector is read as a one-row matrix when `vector_ok`.
check_matrix <- function(x, arg, fn, ncol = NULL, square = FALSE, vector_ok = FALSE) {
  if (inherits(x, "Matrix")) x <- as.matrix(x)
  if (vector_ok && is.null(dim(x)) && is.atomic(x)) x <- matrix(x, nrow = 1L)
  if (!is.matrix(x) || !is.numeric(x))
    stop(sprintf("%s(): '%s' must be a numeric matrix%s", fn, arg, if (vector_ok) " or vector" else ""),
         call. = FALSE)
  if (!is.null(ncol) && ncol(x) != ncol)
    stop(sprintf("%s(): '%s' has %d column(s); it needs %d", fn, arg, ncol(x), ncol), call. = FALSE)
  if (square && nrow(x) != ncol(x))
    stop(sprintf("%s(): '%s' must be a square matrix (it is %d x %d)", fn, arg, nrow(x), ncol(x)), call. = FALSE)
  if (anyNA(x) || any(!is.finite(x)))
    stop(sprintf("%s(): '%s' has missing or infinite values", fn, arg), call. = FALSE)
  x
}

# A model fitted by lmm(), for the functions (not methods) that take one.
check_fit <- function(fit, fn, arg = "fit") {
  if (!inherits(fit, "lemma_fit"))
    stop(sprintf("%s(): '%s' must be a model fitted by lmm() (it is %s)", fn, arg,
                 if (is.object(fit)) paste("of class", class(fit)[1]) else paste("a", typeof(fit))), call. = FALSE)
  invisible(fit)
}
