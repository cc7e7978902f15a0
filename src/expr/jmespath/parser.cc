// placeholder: implemented in the JMESPath change
