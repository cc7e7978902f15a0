# The tests of src/auth/.
